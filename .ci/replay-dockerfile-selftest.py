#!/usr/bin/env python3
"""Self-test of .ci/replay-dockerfile.py: replays deliberately broken copies of the repository
and checks that each fails where and why it should, so that a replay that passes means something.

Each case copies the working tree (without target/, .git, .ci-work) to a temporary folder,
edits the copy (never the real Dockerfile, .dockerignore or Cargo.toml), and replays it with the
real cargo. The cases share the replay's dependency cache (target/dockerfile-replay, warm after
the CI step that replays the real Dockerfile), so a case costs what its stage costs with
compiled dependencies: a replay stops at the first failing RUN or COPY.

  no-build-rs         the Dockerfile without `COPY build.rs ./`: the real build fails (the
                      crate reads DBS_EXPORTER_* that only build.rs sets)
  absolute-path       the real build's RUN copying the binary to /dbs-exporter, as the Dockerfile
                      did: the replay refuses to run it (it would write to this machine's /)
  member-not-copied   a workspace member crate (a path dependency, in [workspace] members)
                      that the Dockerfile does not COPY: the stub `cargo build` cannot load the
                      workspace
  member-ignored      the member COPYed as the lead will do, but .dockerignore without its
                      `!crates/`: the COPY finds nothing in the build context
  member-no-stub      the member's Cargo.toml COPYed for the dependency layer, no stub
                      src/lib.rs: the stub build finds no target in the member
  member-no-touch     the member COPYed and stubbed, but the real build does not `touch` its
                      lib.rs: COPY keeps the context's (older) modification times, so cargo
                      takes the stub it compiled for fresh and the crate that uses the member
                      fails to compile
  current             the Dockerfile as it is: passes (a full compile of the crate)
  member-ok           the member with every edit the lead will make: passes (a full compile)

Usage: .ci/replay-dockerfile-selftest.py [--quick] [--verbose] [CASE...]
  --quick leaves out `current` and `member-ok`, the two cases that compile the crate in full;
  CI uses it right after replaying the real Dockerfile, which is the `current` case at full
  strength. --verbose shows the end of each replay's output, not only of the unexpected ones.
  Exit status 0 when every case turns out as expected.
"""

import importlib.util
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
REPLAY = ROOT / ".ci" / "replay-dockerfile.py"
CACHE = ROOT / "target" / "dockerfile-replay"
MEMBER = "replay-selftest-member"
MEMBER_DIR = f"crates/{MEMBER}"
MEMBER_CRATE = MEMBER.replace("-", "_")


class CaseError(Exception):
    pass


def replace_once(text, old, new, what):
    if text.count(old) != 1:
        raise CaseError(f"{what}: expected {old!r} exactly once in the Dockerfile (did its shape change?)")
    return text.replace(old, new)


def drop_line(text, line, what):
    lines = text.splitlines(keepends=True)
    kept = [l for l in lines if l.strip() != line]
    if len(kept) != len(lines) - 1:
        raise CaseError(f"{what}: expected the line {line!r} exactly once in the Dockerfile")
    return "".join(kept)


# ---- edits of the copy -------------------------------------------------------------------------


def add_member(ctx, used_by_exporter=False):
    """A member crate, a path dependency of the exporter, listed in [workspace] members; the lock
    file given the member alone (checked) so that only the Dockerfile can fail."""
    member = ctx / MEMBER_DIR
    (member / "src").mkdir(parents=True)
    (member / "Cargo.toml").write_text(
        f'[package]\nname = "{MEMBER}"\nversion = "0.1.0"\nedition = "2021"\npublish = false\n'
    )
    (member / "src" / "lib.rs").write_text(
        "//! A stand-in for a workspace member such as crates/dbs-sim.\n"
        'pub const MARKER: &str = "the real member, not the dependency-layer stub";\n'
    )
    # Checked-out sources are older than any build: as after a git clone.
    hour_ago = time.time() - 3600
    for path in (member / "Cargo.toml", member / "src" / "lib.rs"):
        os.utime(path, (hour_ago, hour_ago))

    manifest = ctx / "Cargo.toml"
    text = manifest.read_text()
    dependency = f'{MEMBER} = {{ path = "{MEMBER_DIR}" }}\n'
    if "\n[dependencies]\n" not in text:
        raise CaseError("Cargo.toml has no [dependencies] table")
    text = text.replace("\n[dependencies]\n", "\n[dependencies]\n" + dependency, 1)
    workspace = re.search(r"^\[workspace\][^\[]*?^members\s*=\s*\[", text, re.M | re.S)
    if workspace:
        text = text[: workspace.end()] + f'"{MEMBER_DIR}", ' + text[workspace.end() :]
    elif re.search(r"^\[workspace\]", text, re.M):
        raise CaseError("Cargo.toml has a [workspace] without members: teach add_member about it")
    else:
        text += f'\n[workspace]\nmembers = [".", "{MEMBER_DIR}"]\n'
    manifest.write_text(text)

    # Adds the member to the lock file and changes nothing else; it reads the registry index
    # cache only (no download: a CI machine has not fetched the dev-dependencies at this point).
    before = locked_packages(ctx)
    cargo = ["cargo", "update", "--workspace", "--offline"]
    done = subprocess.run(cargo, cwd=ctx, capture_output=True, text=True)
    if done.returncode != 0:
        raise CaseError(f"{' '.join(cargo)} in the copy failed:\n{done.stderr}")
    after = locked_packages(ctx)
    if after != before | {(MEMBER, "0.1.0")}:
        raise CaseError(f"{' '.join(cargo)} changed more than the member: {sorted(after ^ before)}")

    if used_by_exporter:
        lib = ctx / "src" / "lib.rs"
        lib.write_text(
            lib.read_text()
            + f"\n/// The self-test's member, used so that a stub of it cannot compile.\n"
            f"pub use {MEMBER_CRATE}::MARKER as REPLAY_SELFTEST_MARKER;\n"
        )


def locked_packages(ctx):
    text = (ctx / "Cargo.lock").read_text()
    return set(re.findall(r'^\[\[package\]\]\nname = "([^"]+)"\nversion = "([^"]+)"', text, re.M))


def open_crates_in_dockerignore(ctx):
    path = ctx / ".dockerignore"
    text = path.read_text()
    if not re.search(r"^!\s*/?crates/?\s*$", text, re.M):
        path.write_text(text.rstrip("\n") + "\n!crates/\n")


def close_crates_in_dockerignore(ctx):
    """Takes out the .dockerignore lines that send crates/ (the edit one forgets)."""
    path = ctx / ".dockerignore"
    text = path.read_text()
    kept = [line for line in text.splitlines() if not re.match(r"^!\s*/?crates(/.*)?$", line.strip())]
    path.write_text("\n".join(kept) + "\n")
    spec = importlib.util.spec_from_file_location("replay_dockerfile", REPLAY)
    replay = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(replay)
    if not replay.DockerIgnore(path.read_text()).excluded(f"{MEMBER_DIR}/Cargo.toml"):
        raise CaseError(".dockerignore sends crates/ by a rule this case does not know: teach it")


def member_dockerfile(ctx, copy_manifest=True, stub=True, copy_sources=True, touch=True):
    """The current Dockerfile with the edits the lead makes for a member crate, some left out."""
    path = ctx / "Dockerfile"
    text = path.read_text()
    if copy_manifest:
        text = replace_once(
            text,
            "COPY Cargo.toml Cargo.lock ./\n",
            f"COPY Cargo.toml Cargo.lock ./\nCOPY {MEMBER_DIR}/Cargo.toml ./{MEMBER_DIR}/\n",
            "the member's manifest",
        )
    if stub:
        # After the line that stubs the root's lib.rs (and any member already there).
        stub_line = re.search(r"^ && touch src/lib\.rs[^\n]*\\\n", text, re.M)
        if not stub_line:
            raise CaseError("the member's stub: no ` && touch src/lib.rs ...` line in the Dockerfile")
        text = (
            text[: stub_line.end()]
            + f" && mkdir -p {MEMBER_DIR}/src \\\n && touch {MEMBER_DIR}/src/lib.rs \\\n"
            + text[stub_line.end() :]
        )
        text = replace_once(text, " && rm -rf src", f" && rm -rf src {MEMBER_DIR}/src", "the stub's removal")
    if copy_sources and "COPY crates ./crates\n" not in text:
        text = replace_once(text, "COPY src ./src\n", "COPY src ./src\nCOPY crates ./crates\n", "the member's sources")
    if touch:
        text = replace_once(
            text, "RUN touch src/main.rs src/lib.rs", f"RUN touch src/main.rs src/lib.rs {MEMBER_DIR}/src/lib.rs", "the touch"
        )
    path.write_text(text)


# ---- the cases ---------------------------------------------------------------------------------


def case_current(ctx):
    pass


def case_no_build_rs(ctx):
    path = ctx / "Dockerfile"
    path.write_text(drop_line(path.read_text(), "COPY build.rs ./", "no-build-rs"))


def case_absolute_path(ctx):
    """The Dockerfile as it was: the real build's RUN copies the binary to /dbs-exporter."""
    path = ctx / "Dockerfile"
    text = path.read_text()
    anchor = "cargo build --release --locked\n"
    at = text.rfind(anchor)
    if at < 0:
        raise CaseError("absolute-path: no `cargo build --release --locked` line in the Dockerfile")
    text = text[:at] + "cargo build --release --locked \\\n && cp target/release/dbs-exporter /dbs-exporter\n" + text[at + len(anchor) :]
    text = replace_once(text, "COPY --from=build /src/target/release/dbs-exporter ", "COPY --from=build /dbs-exporter ", "absolute-path")
    path.write_text(text)


def case_member_not_copied(ctx):
    add_member(ctx)
    open_crates_in_dockerignore(ctx)


def case_member_ignored(ctx):
    add_member(ctx)
    close_crates_in_dockerignore(ctx)
    member_dockerfile(ctx)


def case_member_no_stub(ctx):
    add_member(ctx)
    open_crates_in_dockerignore(ctx)
    member_dockerfile(ctx, stub=False)


def case_member_no_touch(ctx):
    add_member(ctx, used_by_exporter=True)
    open_crates_in_dockerignore(ctx)
    member_dockerfile(ctx, touch=False)


def case_member_ok(ctx):
    add_member(ctx, used_by_exporter=True)
    open_crates_in_dockerignore(ctx)
    member_dockerfile(ctx)


def stub_run(dockerfile_text):
    """The first RUN that has a cargo build: the dependency layer."""
    return next(n for n, line in numbered_runs(dockerfile_text) if "cargo build" in line)


def real_run(dockerfile_text):
    return [n for n, line in numbered_runs(dockerfile_text) if "cargo build" in line][-1]


def numbered_runs(text):
    """(line number, the RUN's text with its continuations) for each RUN."""
    lines = text.splitlines()
    runs, i = [], 0
    while i < len(lines):
        if lines[i].startswith("RUN "):
            start, body = i + 1, lines[i]
            while lines[i].rstrip().endswith("\\"):
                i += 1
                body += " " + lines[i]
            runs.append((start, body))
        i += 1
    return runs


# name: (edit, quick, expectation); an expectation is None (passes) or
# (kind, which line: function of the copy's Dockerfile text, patterns the output must contain)
CASES = {
    "no-build-rs": (case_no_build_rs, True, ("run", real_run, [r"environment variable `DBS_EXPORTER_\w+` not defined"])),
    "absolute-path": (case_absolute_path, True, ("unmappable", real_run, [r"RUN names '/dbs-exporter'"])),
    "member-not-copied": (
        case_member_not_copied,
        True,
        ("run", stub_run, [re.escape(f"{MEMBER_DIR}/Cargo.toml"), r"failed to (load|read|get)"]),
    ),
    "member-ignored": (
        case_member_ignored,
        True,
        ("copy", lambda text: line_of(text, f"COPY {MEMBER_DIR}/Cargo.toml"), [r"\.dockerignore keeps it out"]),
    ),
    "member-no-stub": (
        case_member_no_stub,
        True,
        ("run", stub_run, [re.escape(MEMBER), r"no targets specified|can't find library|src/lib\.rs"]),
    ),
    "member-no-touch": (
        case_member_no_touch,
        True,
        ("run", real_run, [r"MARKER", r"unresolved import|cannot find|no `MARKER`"]),
    ),
    "current": (case_current, False, None),
    "member-ok": (case_member_ok, False, None),
}


def line_of(text, prefix):
    return next(n for n, line in enumerate(text.splitlines(), 1) if line.startswith(prefix))


def run_case(name, work):
    edit, _, expectation = CASES[name]
    case_dir = work / name
    ctx = case_dir / "context"
    shutil.copytree(
        ROOT, ctx, symlinks=True, ignore=lambda d, names: [n for n in names if d == str(ROOT) and n in ("target", ".git", ".ci-work")]
    )
    edit(ctx)
    result_file = case_dir / "result.json"
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(REPLAY), "--context", str(ctx), "--cache-mount", f"/src/target={CACHE}",
         "--root", str(case_dir / "root"), "--result-json", str(result_file)],
        capture_output=True, text=True,
    )
    seconds = time.monotonic() - started
    output = done.stdout + done.stderr
    (case_dir / "output.txt").write_text(output)
    result = json.loads(result_file.read_text()) if result_file.exists() else {}
    wrong = []
    if expectation is None:
        if done.returncode != 0 or not result.get("ok"):
            wrong.append(f"expected the replay to pass; it failed: {result.get('error')}")
    else:
        kind, which, patterns = expectation
        expected_line = which((ctx / "Dockerfile").read_text())
        if done.returncode == 0 or result.get("ok"):
            wrong.append("expected the replay to fail; it passed")
        else:
            if result.get("kind") != kind:
                wrong.append(f"expected a failing {kind}, got {result.get('kind')}: {result.get('error')}")
            if result.get("line") != expected_line:
                wrong.append(f"expected the failure at Dockerfile:{expected_line}, got Dockerfile:{result.get('line')}")
            for pattern in patterns:
                if not re.search(pattern, output):
                    wrong.append(f"the output lacks /{pattern}/")
    return seconds, result, wrong, output


def main():
    if os.path.lexists("/dbs-exporter"):
        print("/dbs-exporter exists on this machine: the absolute-path case could not tell whether it wrote it")
        return 1
    args = sys.argv[1:]
    quick = "--quick" in args
    verbose = "--verbose" in args
    names = [a for a in args if not a.startswith("--")]
    unknown = [n for n in names if n not in CASES]
    if unknown:
        print(f"unknown case(s): {', '.join(unknown)}; the cases: {', '.join(CASES)}")
        return 2
    if not names:
        names = [n for n, (_, is_quick, _) in CASES.items() if is_quick or not quick]
    failures = 0
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="replay-selftest.") as tmp:
        work = pathlib.Path(tmp)
        for name in names:
            try:
                seconds, result, wrong, output = run_case(name, work)
            except CaseError as error:
                seconds, result, wrong, output = 0, {}, [f"could not set the case up: {error}"], ""
            outcome = "passes" if result.get("ok") else f"fails at Dockerfile:{result.get('line')} ({result.get('kind')})"
            if wrong:
                failures += 1
                print(f"FAIL {name} ({seconds:.1f}s): {outcome}")
                for item in wrong:
                    print(f"     {item}")
                print("     --- the replay's output (last 40 lines) ---")
                for line in output.splitlines()[-40:]:
                    print(f"     | {line}")
            else:
                print(f"ok   {name} ({seconds:.1f}s): {outcome}, as expected"
                      + (f": {short_error(result)}" if not result.get("ok") else ""))
                if verbose:
                    for line in output.splitlines()[-25:]:
                        print(f"     | {line}")
    if os.path.lexists("/dbs-exporter"):
        print("FAIL a replay wrote /dbs-exporter on this machine")
        failures += 1
    print(f"{len(names) - failures} of {len(names)} cases as expected in {time.monotonic() - started:.1f}s")
    return 1 if failures else 0


def short_error(result):
    error = " ".join((result.get("error") or "").split())
    return error if len(error) < 140 else error[:137] + "..."


if __name__ == "__main__":
    sys.exit(main())
