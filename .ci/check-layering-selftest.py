#!/usr/bin/env python3
"""Self-test of .ci/check-layering.py: runs it on temporary trees, each with one deliberate change,
and checks that it passes or fails as it should and that its message names what is wrong. Not
run by CI; run it by hand after changing the checker: `python3 .ci/check-layering-selftest.py`.

Two kinds of tree:
- copies of the repository's src/, docs/ (and crates/, if there is one), for rules 1 and 2:
  the module table and the layering as they are. Only those two rules' lines are looked at
  there, so these cases hold whatever state the tree is in for the other rules (the tree may
  still have a circle or a `foo.rs` beside `foo/` while it is being reshaped);
- a small fixture tree written here (FIXTURE), that passes every rule, for rules 3 to 5: circles
  at any depth and in crates/, module-file style, the folders table.
"""

import concurrent.futures
import importlib.util
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCRIPT = ROOT / ".ci" / "check-layering.py"
DOC = "docs/architecture.md"
failures = []
# The lines of rules 1 and 2 when they hold, and the headings when they do not.
LAYERING_HOLDS = r"^layering: .* none reaches up"
TABLE_HOLDS = r"^table: .* lists the \d+ modules in order"
TABLE_FAILS = r"does not match the code"


CASES = []


def run(name, edits, expect_rc, expect=(), absent=(), tree=None):
    """A case: build the tree (a copy of the repository's by default, or `tree(root)`), apply
    `edits` (path -> function of its text, returning None to delete the file or folder), run the
    checker. `expect_rc` None: the exit code is not looked at."""
    CASES.append((name, edits, expect_rc, expect, absent, tree or copy_repository))


def copy_repository(root):
    for folder in ("src", "docs", "crates"):
        if (ROOT / folder).is_dir():
            shutil.copytree(ROOT / folder, root / folder)


def write_fixture(root):
    for path, text in FIXTURE.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(textwrap.dedent(text).lstrip())


def check(case):
    """Run one case; returns (its name, what went wrong, the checker's output)."""
    name, edits, expect_rc, expect, absent, tree = case
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        tree(tmp)
        (tmp / ".ci").mkdir()
        shutil.copy(SCRIPT, tmp / ".ci" / SCRIPT.name)
        for path, edit in edits.items():
            target = tmp / path
            before = target.read_text() if target.is_file() else ""
            after = edit(before)
            assert after != before, f"{name}: the edit of {path} changed nothing"
            if after is None:
                shutil.rmtree(target) if target.is_dir() else target.unlink()
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(after)
        done = subprocess.run(
            [sys.executable, str(tmp / ".ci" / SCRIPT.name)], capture_output=True, text=True
        )
    output = done.stdout + done.stderr
    wrong = []
    if expect_rc is not None and done.returncode != expect_rc:
        wrong.append(f"exit {done.returncode}, expected {expect_rc}")
    wrong += [f"no line matching {p!r}" for p in expect if not re.search(p, output, re.M)]
    wrong += [f"a line matching {p!r}" for p in absent if re.search(p, output, re.M)]
    return name, wrong, output


def run_all():
    # The cases are independent processes on their own trees: run them side by side.
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        for name, wrong, output in pool.map(check, CASES):
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
    group = module.strip_comments(
        "use crate::config::{\n    schema::RawRegion,\n    accounts::{AccountList, self as acc}, *,\n};\n"
        "mod inner { use super::super::sibling::X; fn f() { super::super::super::top(); super::super::super::super::past(); } }\n"
        "let v = <T as super::values::Scalar>::EXPECTING; self::child::f::<u8>();\n"
    )
    got = [(module.line_of(group, o), "::".join(p)) for o, p in module.module_paths(group, ["config", "accounts"])]
    want = [
        (2, "config::schema::RawRegion"), (3, "config::accounts::AccountList"), (3, "config::accounts"),
        (3, "config"), (5, "config::sibling::X"), (5, "top"), (6, "config::values::Scalar"),
        (6, "config::accounts::child::f"),
    ]
    if got != want:
        failures.append(f"module_paths: got {got!r}, want {want!r}")
    for code, want in {
        "pub(crate) name: T,\n other: U,": "pub(crate) name: T",
        "pub fn f<A, B>(a: A) -> B { g() }\nfn h() {}": "pub fn f<A, B>(a: A) -> B { g() }",
        "name: T,\n other: U,": "name: T",
    }.items():
        if code[: module.item_end(code, 0)] != want:
            failures.append(f"item_end: {code!r} ends after {code[: module.item_end(code, 0)]!r}, want {want!r}")
    cases = {"test": True, "all(test, unix)": True, "any(test, feature = \"x\")": False,
             "not(test)": False, "any(test, all(test, unix))": True, "unix": False}
    for predicate, want in cases.items():
        if module.cfg_is_test_only(predicate) != want:
            failures.append(f"cfg_is_test_only({predicate!r}) is not {want}")
    print(f"{'ok  ' if not failures else 'FAIL'} unit: comments, strings, chars, cfg predicates, paths and groups")


def repository_cases():
    """Rules 1 and 2 on copies of the repository's tree."""
    run(
        "the tree as it is: layering and the module table hold, every rule runs",
        {},
        None,
        [
            LAYERING_HOLDS,
            TABLE_HOLDS,
            r"^(cycles: none|Cycles between sibling modules)",
            r"^(module files: |Module files )",
            r"^(folders: |The folders table )",
        ],
        [r"Traceback"],
    )
    run(
        "a wrong row: poller without `store`, with `logging`",
        {DOC: edit_cell("poller", lambda names: [n for n in names if n != "store"] + ["logging"])},
        None,
        [
            r"^docs/architecture\.md:\d+: row `poller`: the code also uses `store` \(src/poller/\S+:\d+\); "
            r"the table lists `logging`, which the code does not use; the cell should read: "
            r"`api`, .*`store`$",
            r"^layering: .* none reaches up",
        ],
    )
    run(
        "a row listing what only the tests use",
        {
            DOC: edit_cell("poller", lambda names: names + ["credentials"]),
            "src/poller/tests.rs": append("\nuse crate::credentials::Credentials as _OnlyTheTests;\n"),
        },
        None,
        [r"row `poller`: the table lists `credentials` \(src/poller/tests\.rs:\d+\), which only its tests use"],
    )
    run(
        "a row listing `Error`",
        {DOC: edit_cell("cli", lambda names: names + ["Error"])},
        None,
        [r"row `cli`: the table lists `Error`, not a module of src/lib\.rs"],
    )
    run(
        "`nothing` where the code uses something",
        {DOC: row_cell("pacing", "nothing")},
        None,
        [r"row `pacing`: the code also uses `util` \(src/pacing\.rs:\d+\); the cell should read: `util`$"],
    )
    run(
        "two rows swapped",
        {DOC: lambda t: re.sub(r"^(\| 11 \| `inventory/` .*)\n(\| 12 \| `render/` .*)$", r"\2\n\1", t, flags=re.M)},
        None,
        [r"row `render`: the order cell says 12, it is row 11", r"row 11 is `render`, src/lib\.rs declares `inventory` there"],
    )
    run(
        "a row missing",
        {DOC: lambda t: re.sub(r"^\| 14 \| `http/` .*\n", "", t, flags=re.M)},
        None,
        [r"the table has no row for `http` \(src/lib\.rs declares it after `poller`\)"],
    )
    run(
        "a folder written without its slash",
        {DOC: replace("| `render/` |", "| `render` |")},
        None,
        [r"row `render`: write it `render/`, src/render/ is a folder"],
    )
    run(
        "a new product use in the code",
        {"src/store/model.rs": append("\nuse crate::logging::init as _init;\n")},
        None,
        [r"row `store`: the code also uses `logging` \(src/store/model\.rs:\d+\); the cell should read: `api`, .*`logging`$"],
    )
    run(
        "cfg(any(test, feature)) code is product code",
        {"src/store/model.rs": append('\n#[cfg(any(test, feature = "test-support"))]\nuse crate::logging::init;\n')},
        None,
        [r"row `store`: the code also uses `logging`"],
    )
    run(
        "a path after a '\"' character literal is still read",
        {"src/store/model.rs": append("\nfn quote() -> char { let _ = crate::logging::init; '\"' }\nfn two() { crate::pacing::x(); }\n")},
        None,
        [r"row `store`: the code also uses `logging` \(src/store/model\.rs:\d+\), `pacing` \(src/store/model\.rs:\d+\)"],
    )
    run(
        "super::super:: from a file below a module's root reaches the crate root",
        {"src/api/client.rs": append("\nuse super::super::util::lock as _l;\n")},
        None,
        [r"row `api`: the code also uses `util` \(src/api/client\.rs:\d+\)"],
    )
    run(
        "test-only uses, comments and strings do not count for the table",
        {
            "src/store/model.rs": append(
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
        None,
        [TABLE_HOLDS],
        [TABLE_FAILS],
    )
    run(
        "test code is still held to the layering",
        {"src/poller/tests.rs": append("\nuse crate::cli::Cli;\n")},
        None,
        [
            r"^Layering violations \(modules may only use modules declared before them in src/lib\.rs\):$",
            r"^src/poller/tests\.rs:\d+: `poller` uses crate::cli, which src/lib\.rs declares after it$",
            r"^table: ",
        ],
    )


# A small tree that passes every rule, for rules 3 to 5. What each file shows:
# - config/ and config/accounts/: submodules two levels deep, a child using its parent's items
#   (`super::RegionConfig`), the parent using its children, and tests using siblings (a tests.rs
#   file, a tests/ folder, a `#[cfg(test)]` block) where product code in the other direction
#   would close a circle;
# - crates/dbs-sim: a second crate whose lib.rs declares `gateway` before the `store` it uses
#   (the order of lib.rs binds only src/lib.rs), with `crate::` and `super::super::` paths.
FIXTURE = {
    "src/lib.rs": """
        pub mod util;
        pub mod config;
        pub mod app;

        pub enum Error {}
    """,
    "src/main.rs": """
        fn main() {
            fixture::app::main();
        }
    """,
    "src/util.rs": """
        pub fn lock() {}
    """,
    "src/config/mod.rs": """
        mod accounts;
        mod schema;
        #[cfg(test)]
        mod tests;

        pub use self::schema::Raw;
        use crate::util::lock;

        pub struct RegionConfig;
    """,
    "src/config/schema.rs": """
        use super::accounts::AccountList;
        use super::RegionConfig;

        pub struct Raw;
    """,
    "src/config/tests.rs": """
        use super::{accounts::AccountList, schema::Raw};
    """,
    "src/config/accounts/mod.rs": """
        mod credentials;
        mod values;
        #[cfg(test)]
        mod tests;

        use super::RegionConfig;

        pub struct AccountList;
    """,
    "src/config/accounts/credentials.rs": """
        use super::values::Value;

        pub struct Key;
    """,
    "src/config/accounts/values.rs": """
        pub struct Value;
    """,
    "src/config/accounts/tests.rs": """
        use super::super::schema::Raw;
    """,
    "src/app/mod.rs": """
        mod run;
        mod serve;
        #[cfg(test)]
        mod tests;

        use crate::config::RegionConfig;

        pub fn main() {
            run::start();
        }
    """,
    "src/app/run.rs": """
        use super::serve::listen;

        pub fn start() {
            listen();
        }
    """,
    "src/app/serve.rs": """
        pub fn listen() {}

        #[cfg(test)]
        mod checks {
            use super::super::run::start;
        }
    """,
    "src/app/tests/mod.rs": """
        use super::run::start;
        use crate::app::serve::listen;
    """,
    "crates/dbs-sim/src/lib.rs": """
        pub mod gateway;
        pub mod store;
    """,
    "crates/dbs-sim/src/store.rs": """
        pub struct Store;
    """,
    "crates/dbs-sim/src/gateway/mod.rs": """
        mod server;
        use crate::store::Store;
    """,
    "crates/dbs-sim/src/gateway/server.rs": """
        use super::super::store::Store;

        pub struct Server;
    """,
    DOC: """
        # Architecture

        | order | module | owns | uses |
        | --- | --- | --- | --- |
        | 1 | `util` | helpers | nothing |
        | 2 | `config/` | the configuration | `util` |
        | 3 | `app/` | the daemon | `config` |

        | folder | holds |
        | --- | --- |
        | `src/` | the crate root |
        | `src/app/` | the daemon |
        | `src/config/` | the configuration |
        | `src/config/accounts/` | accounts and their keys |
        | `crates/dbs-sim/src/` | the simulator's root |
        | `crates/dbs-sim/src/gateway/` | the fake gateway |
    """,
}


def remove(_text):
    return None


def becomes(path):
    """An edit that gives a new file the fixture's text of `path` (to move a file there)."""
    return lambda _text: textwrap.dedent(FIXTURE[path]).lstrip()


def fixture(name, edits, expect_rc, expect=(), absent=()):
    run(f"fixture: {name}", edits, expect_rc, expect, absent, tree=write_fixture)


def fixture_cases():
    """Rules 3 to 5 (and 1 and 2 passing) on the fixture tree."""
    fixture(
        "the tree passes every rule",
        {},
        0,
        [
            r"^layering: 3 modules in order",
            r"^table: docs/architecture\.md lists the 3 modules in order",
            # config -> util, app -> config, schema -> accounts, credentials -> values, run -> serve,
            # and in dbs-sim gateway -> store: a parent's items and test code are no such use.
            r"^cycles: none among the 6 uses between sibling modules, at every depth of src, crates/dbs-sim/src$",
            r"^module files: every module with a folder has its file as <folder>/mod\.rs$",
            r"^folders: docs/architecture\.md describes the 6 folders of Rust files$",
        ],
    )
    fixture(
        "a cycle two levels deep is named, with a use per step",
        {"src/config/accounts/values.rs": append("use super::credentials::Key;\n")},
        1,
        [
            r"^Cycles between sibling modules ",
            r"^config::accounts: credentials -> values -> credentials \(src/config/accounts/credentials\.rs:1 "
            r"uses values::Value; src/config/accounts/values\.rs:2 uses credentials::Key\)$",
        ],
        [r"^config::accounts: values -> credentials"],  # a cycle once, not once per module on it
    )
    fixture(
        "a use from a file further down counts where the two paths part",
        {"src/config/accounts/values.rs": append("use crate::config::schema::Raw;\n")},
        1,
        [
            r"^config: accounts -> schema -> accounts \(src/config/accounts/values\.rs:2 uses schema::Raw; "
            r"src/config/schema\.rs:1 uses accounts::AccountList\)$"
        ],
        [r"^config::accounts: "],
    )
    fixture(
        "a cycle through a use group",
        {
            "src/config/accounts/mod.rs": append(
                "use crate::config::{\n    RegionConfig as Again,\n    schema::{self as raw, Raw},\n};\n"
            )
        },
        1,
        [
            r"^config: accounts -> schema -> accounts \(src/config/accounts/mod\.rs:11 uses schema; "
            r"src/config/schema\.rs:1 uses accounts::AccountList\)$"
        ],
    )
    fixture(
        "test-only uses between siblings close no circle",
        {
            "src/config/accounts/mod.rs": append(
                "#[cfg(test)]\nuse super::schema::Raw;\n"
                "#[cfg(all(test, unix))]\nfn helper() {\n    let _ = crate::config::schema::Raw;\n}\n"
                "mod tests_inline {}\nmod tests {\n    use super::super::schema::Raw;\n}\n"
            ),
            "src/config/accounts/values.rs": append(
                "#[cfg(test)]\nmod checks {\n    use super::super::credentials::Key;\n}\n"
            ),
            "src/app/tests/more.rs": append("use super::super::run::start;\n"),
        },
        0,
        [r"^cycles: none "],
    )
    fixture(
        "the same use in product code closes the circle",
        {"src/config/accounts/mod.rs": append("#[cfg(any(test, feature = \"x\"))]\nuse super::schema::Raw;\n")},
        1,
        [r"^config: accounts -> schema -> accounts \(src/config/accounts/mod\.rs:\d+ uses schema::Raw; "],
    )
    fixture(
        "a child using its parent, and a parent using its children, are no circle",
        {
            "src/config/schema.rs": append("use crate::config::RegionConfig as Again;\nuse super::Raw as Mine;\n"),
            "src/config/mod.rs": append("use self::accounts::AccountList;\nuse crate::config::schema::Raw as R;\n"),
            "src/config/accounts/credentials.rs": append(
                "use crate::config::accounts::AccountList;\nuse super::super::RegionConfig as C;\n"
                "use crate::config as whole;\nuse super::super::{self as up};\n"
            ),
            "src/config/accounts/mod.rs": append("use self::credentials::Key;\n"),
        },
        0,
        [r"^cycles: none "],
    )
    fixture(
        "a foo.rs beside foo/ is refused, in src/ and in crates/",
        {
            "src/app/mod.rs": remove,
            "src/app.rs": becomes("src/app/mod.rs"),
            "crates/dbs-sim/src/gateway/mod.rs": remove,
            "crates/dbs-sim/src/gateway.rs": becomes("crates/dbs-sim/src/gateway/mod.rs"),
            "src/config/accounts.rs": append("pub struct Twice;\n"),
        },
        1,
        [
            r"^Module files \(a module with a folder has its file in it, as <folder>/mod\.rs, never beside it\):$",
            r"^one module-file style: move src/app\.rs to src/app/mod\.rs$",
            r"^one module-file style: move crates/dbs-sim/src/gateway\.rs to crates/dbs-sim/src/gateway/mod\.rs$",
            r"^one module-file style: src/config/accounts\.rs and src/config/accounts/mod\.rs are both the "
            r"module's file; keep src/config/accounts/mod\.rs$",
            r"^cycles: none ",
            r"^layering: 3 modules in order",
        ],
    )
    fixture(
        "a folder missing from the folders table, rows for others, an empty cell",
        {
            DOC: lambda text: text.replace("| `src/config/accounts/` | accounts and their keys |\n", "")
            .replace("| `src/app/` | the daemon |", "| `src/app/` |  |")
            + "| `src/gone/` | what was there |\n| `src/app/tests/` | the tests |\n| `src/` | the crate |\n",
            "crates/dbs-sim/src/store/memory.rs": append("pub struct Memory;\n"),
        },
        1,
        [
            r"^The folders table of docs/architecture\.md does not match the folders of Rust files:$",
            r"^docs/architecture\.md: the folders table has no row for `src/config/accounts/`; add: \| `src/config/accounts/` \| \.\.\. \|$",
            r"^docs/architecture\.md: the folders table has no row for `crates/dbs-sim/src/store/`",
            r"^docs/architecture\.md:\d+: row `src/gone/`: no such folder; remove the row$",
            r"^docs/architecture\.md:\d+: row `src/app/tests/`: a tests folder, which the table leaves out; remove the row$",
            r"^docs/architecture\.md: the folders table has 2 rows for `src/`$",
            r"^docs/architecture\.md:\d+: row `src/app/`: the holds cell is empty$",
        ],
        [r"no row for `src/app/tests/`"],
    )
    fixture(
        "no folders table: the rows it should have are listed",
        {DOC: lambda text: text[: text.index("| folder | holds |")]},
        1,
        [
            r"^docs/architecture\.md: no table with the header `\| folder \| holds \|`; it should have these rows",
            r"^\| `src/app/` \| \.\.\. \|$",
            r"^\| `src/config/accounts/` \| \.\.\. \|$",
            r"^\| `crates/dbs-sim/src/gateway/` \| \.\.\. \|$",
        ],
        [r"^\| `src/app/tests/`"],
    )
    fixture(
        "a crate under crates/ with a top-level cycle",
        {"crates/dbs-sim/src/store.rs": append("use crate::gateway::Server;\n")},
        1,
        [
            r"^dbs-sim: gateway -> store -> gateway \(crates/dbs-sim/src/gateway/mod\.rs:2 uses store::Store; "
            r"crates/dbs-sim/src/store\.rs:2 uses gateway::Server\)$"
        ],
    )
    fixture(
        "a cycle deeper in a crate under crates/",
        {
            "crates/dbs-sim/src/gateway/server.rs": append("use super::wire::Frame;\n"),
            "crates/dbs-sim/src/gateway/wire.rs": append("use crate::gateway::server::Server;\npub struct Frame;\n"),
        },
        1,
        [
            r"^dbs-sim::gateway: server -> wire -> server \(crates/dbs-sim/src/gateway/server\.rs:4 uses wire::Frame; "
            r"crates/dbs-sim/src/gateway/wire\.rs:1 uses server::Server\)$"
        ],
    )
    fixture(
        "without crates/, src/ alone is checked",
        {
            "crates": remove,
            DOC: lambda text: text.replace("| `crates/dbs-sim/src/gateway/` | the fake gateway |\n", "").replace(
                "| `crates/dbs-sim/src/` | the simulator's root |\n", ""
            ),
        },
        0,
        [r"^cycles: none .* of src$", r"^folders: docs/architecture\.md describes the 4 folders"],
    )

def main():
    unit_tests()
    repository_cases()
    fixture_cases()
    run_all()
    if failures:
        print("\n".join(["", "Self-test failures:"] + failures))
        sys.exit(1)
    print("self-test: all cases behave")


if __name__ == "__main__":
    main()
