#!/usr/bin/env python3
"""Replays the Dockerfile's build stage without a container engine, so that CI notices when the
image no longer builds (a file the build needs that no COPY names, a workspace member the
dependency layer does not stub, a .dockerignore that keeps a needed file out of the context).

What it does
  1. Parses the Dockerfile: parser directives (`# escape=`), comments (also inside a
     continuation), line continuations, ARG (global and per stage, with defaults, overridden by
     --build-arg as `docker build` does), ENV (`k=v k2=v2` and the legacy `k v`), WORKDIR, COPY,
     RUN (shell and JSON form), SHELL, FROM ... AS name, and `$VAR`, `${VAR}`, `${VAR:-word}`,
     `${VAR:+word}` (and `-`, `+`, `?`, `:?`) where Docker substitutes them.
  2. Builds the context as `docker build` would send it: every file under the context directory
     that .dockerignore lets through (`#` comments, `*`, `?`, `[...]`, `**`, `!exception`, a
     pattern matching a directory matching everything below it, the last matching line
     deciding; excluded directories are walked only when an exception lies below them).
  3. For each stage that the final stage copies from (`COPY --from=NAME`), makes an empty scratch
     folder as the stage's `/`, maps WORKDIR and COPY destinations into it, copies exactly the
     context files each COPY names (keeping modification times, as COPY does, so a forgotten
     `touch` shows up as it would in the image), and runs each RUN there in order with the
     image's shell semantics (`/bin/sh -e -c`; see below). It stops at the first failure.
  4. Checks that every path the final stage's `COPY --from=<stage>` names exists in the replayed
     root (and, when it lies in a cache mount, that this replay wrote it). With --export-final DIR
     it copies them to DIR at the paths the image would have them, e.g. DIR/usr/local/bin/...

Not a container
  * The toolchain is this machine's: the `cargo`/`rustc` on PATH, not the `rust:` image's (the
    FROM image is not pulled; its ENV is stood in for by a short allow-list of the host's
    variables that locate the toolchain: PATH, HOME, CARGO_HOME, RUSTUP_HOME, ...). Variables
    such as CARGO_TARGET_DIR or RUSTFLAGS are not passed: the image has none.
  * RUN executes on the host, in the mapped WORKDIR, with /bin/sh (dash on Debian, as in the
    image) plus `-e`, so a failing command inside a RUN stops it. The brief asked for `bash -ec`;
    bash would accept bashisms that fail in the image's dash, so /bin/sh it is, unless the
    Dockerfile says SHELL. GIT_CEILING_DIRECTORIES keeps git from finding a repository above
    the scratch root (the image has no .git; build.rs must not see one either).
  * Only the stage root is mapped. A RUN whose text names an absolute path (other than /dev/null
    and its kin) or `~`, or an ARG/ENV value that is an absolute path (PATH excepted), stops the
    replay loudly instead of touching the real filesystem: the build stage must work relative to
    its WORKDIR. This is a textual check, not a sandbox: `cd ..` or a path assembled at run time
    is not caught.
  * COPY --chown, --chmod and --link are accepted and not applied (the replay runs as the
    invoking user). USER, LABEL, EXPOSE, CMD and the like are image metadata: skipped.
  * Not supported (the replay fails and says so): ADD, heredocs, RUN --mount, COPY --from inside
    a replayed stage, COPY --parents/--exclude, a stage FROM another stage.
  * .dockerignore: Docker's rules for the patterns this repository uses (`*` then `!path`) and
    the common ones; for an exception with wildcards under an excluded directory, Docker
    versions differ, and the replay walks any directory an exception could reach.

Cost (the choice for CI)
  --cache-mount /src/target=DIR links the image's /src/target to DIR on the host, as a BuildKit
  `RUN --mount=type=cache,target=/src/target` would. CI uses target/dockerfile-replay, not the
  repository's own target/: cargo's freshness is by modification time and its unit hashes do not
  depend on where the package lies, so a stub build and a real build of different trees in one
  target/ could pass each other's artifacts off as fresh (a stub library in a developer's
  `cargo build --release`). On a fresh CI machine the cache starts empty, so the replay compiles
  every dependency exactly as `docker build` does: the stub `cargo build` really runs against the
  stub sources (a manifest, workspace member or bench it cannot load fails it before anything
  compiles), then the real build compiles the crate. This release build replaces CI's
  `cargo build --release` (.ci/run copies the exported binary to target/release/dbs-exporter, so
  the later steps test the binary the image would ship). It costs that build plus the stub crate
  (a few seconds) and what the two layers lose of cargo's pipelining of the crate over its
  dependencies: on a 2-core machine, 103 s against 91 s, and 119 s against 120 s under load,
  for `cargo build --release` from scratch. The self-test (.ci/replay-dockerfile-selftest.py
  --quick) then reuses the compiled dependencies: about 15 s. Locally a warm cache makes a rerun
  cost one compile of the crate (50 to 90 s).

Usage
  .ci/replay-dockerfile.py [--context DIR] [--file DOCKERFILE] [--build-arg K=V | K]...
      [--cache-mount IMAGE_DIR=HOST_DIR]... [--export-final DIR] [--root DIR] [--keep]
      [--result-json FILE]
Exit status 0 when the stage(s) replay and every `COPY --from` path exists, 1 otherwise.
"""

import argparse
import glob
import json
import os
import platform
import posixpath
import re
import shutil
import subprocess
import sys
import tempfile
import time

# --------------------------------------------------------------------------------------------
# Errors and output


class ReplayError(Exception):
    """A failure of the build (or of something the replay cannot do faithfully): stops it."""

    def __init__(self, message, line=None, instruction=None, kind="error"):
        super().__init__(message)
        self.line = line
        self.instruction = instruction
        self.kind = kind


def say(message):
    print(f"replay: {message}", flush=True)


def warn(message):
    print(f"replay: warning: {message}", file=sys.stderr, flush=True)


def short(text, limit=100):
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------------------------
# Dockerfile: logical lines and instructions

DIRECTIVE = re.compile(r"^#\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(.*?)\s*$")
HEREDOC = re.compile(r"(?<!<)<<(?!<)-?\s*[\"']?[A-Za-z_][A-Za-z0-9_]*[\"']?")


class Instruction:
    def __init__(self, line, keyword, rest, original):
        self.line = line  # first physical line, 1-based
        self.keyword = keyword  # upper case
        self.rest = rest  # the arguments, continuations joined
        self.original = original

    def __repr__(self):
        return f"Dockerfile:{self.line}: {self.keyword} {short(self.rest)}"


def parse_dockerfile(text):
    """Returns (escape character, [Instruction])."""
    lines = text.splitlines()
    escape = "\\"
    index = 0
    # Parser directives: only at the very top, before any comment, blank line or instruction.
    seen = set()
    while index < len(lines):
        match = DIRECTIVE.match(lines[index])
        if not match or match.group(1).lower() in seen:
            break
        key = match.group(1).lower()
        seen.add(key)
        if key == "escape":
            if match.group(2) not in ("\\", "`"):
                raise ReplayError(f"escape directive {match.group(2)!r}: must be \\ or `", index + 1)
            escape = match.group(2)
        index += 1

    instructions = []
    current, start = None, None
    for number in range(index, len(lines)):
        raw = lines[number]
        stripped = raw.strip()
        if stripped.startswith("#"):
            continue  # a comment line, also in the middle of a continuation
        if current is None:
            if not stripped:
                continue
            current, start = "", number + 1
        elif not stripped:
            continue  # an empty line inside a continuation: Docker skips it
        body = raw.rstrip()
        if body.endswith(escape):
            current += body[:-1]
            continue
        current += body
        instructions.append(make_instruction(start, current))
        current = None
    if current is not None:
        instructions.append(make_instruction(start, current))
    return escape, instructions


def make_instruction(line, text):
    text = text.strip()
    parts = text.split(None, 1)
    keyword = parts[0].upper()
    rest = parts[1].strip() if len(parts) > 1 else ""
    return Instruction(line, keyword, rest, text)


FLAG = re.compile(r"--([A-Za-z][A-Za-z0-9-]*)(?:=(\S*))?(?:\s+|$)")


def take_flags(rest):
    """Splits leading `--name=value` (or `--name`) flags off an instruction's arguments."""
    flags = {}
    while True:
        match = FLAG.match(rest)
        if not match:
            return flags, rest
        flags.setdefault(match.group(1), []).append(match.group(2) if match.group(2) is not None else "true")
        rest = rest[match.end() :]


def json_form(rest):
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    return None


# --------------------------------------------------------------------------------------------
# Variable substitution, as Docker does it for FROM, ARG, ENV, WORKDIR, COPY, LABEL, ...

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Lexer:
    def __init__(self, text, env, escape, where):
        self.text, self.env, self.escape, self.where = text, env, escape, where
        self.pos = 0

    def fail(self, message):
        raise ReplayError(f"{message} in {self.text!r}", self.where)

    def words(self, split=True):
        """Quote removal, escapes and substitution; splits on unquoted blanks when `split`."""
        words, word, started = [], [], False
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if split and char in " \t\n":
                if started:
                    words.append("".join(word))
                    word, started = [], False
                self.pos += 1
                continue
            started = True
            if char == self.escape:
                if self.pos + 1 < len(text):
                    word.append(text[self.pos + 1])
                    self.pos += 2
                else:
                    word.append(char)
                    self.pos += 1
            elif char == "'":
                end = text.find("'", self.pos + 1)
                if end < 0:
                    self.fail("unmatched '")
                word.append(text[self.pos + 1 : end])
                self.pos = end + 1
            elif char == '"':
                self.pos += 1
                while True:
                    if self.pos >= len(text):
                        self.fail('unmatched "')
                    char = text[self.pos]
                    if char == '"':
                        self.pos += 1
                        break
                    if char == self.escape and self.pos + 1 < len(text) and text[self.pos + 1] in '"$' + self.escape:
                        word.append(text[self.pos + 1])
                        self.pos += 2
                    elif char == "$":
                        word.append(self.dollar())
                    else:
                        word.append(char)
                        self.pos += 1
            elif char == "$":
                word.append(self.dollar())
            else:
                word.append(char)
                self.pos += 1
        if started:
            words.append("".join(word))
        return words

    def dollar(self):
        text = self.text
        self.pos += 1  # the $
        if self.pos < len(text) and text[self.pos] == "{":
            close = self.matching_brace(self.pos)
            inner = text[self.pos + 1 : close]
            self.pos = close + 1
            return self.braced(inner)
        match = NAME.match(text, self.pos)
        if not match:
            return "$"
        self.pos = match.end()
        return self.env.get(match.group(0), "")

    def matching_brace(self, open_at):
        depth, pos = 0, open_at
        while pos < len(self.text):
            if self.text[pos] == self.escape:
                pos += 2
                continue
            if self.text[pos] == "{":
                depth += 1
            elif self.text[pos] == "}":
                depth -= 1
                if depth == 0:
                    return pos
            pos += 1
        self.fail("missing } in a ${...}")

    def braced(self, inner):
        match = NAME.match(inner)
        if not match:
            self.fail(f"bad substitution ${{{inner}}}")
        name, tail = match.group(0), inner[match.end() :]
        value = self.env.get(name)
        if tail == "":
            return value or ""
        for operator in (":-", ":+", ":?", "-", "+", "?"):
            if tail.startswith(operator):
                word = Lexer(tail[len(operator) :], self.env, self.escape, self.where).words(split=False)
                word = word[0] if word else ""
                empty = value is None or (operator.startswith(":") and value == "")
                if operator.endswith("-"):
                    return word if empty else value
                if operator.endswith("+"):
                    return "" if empty else word
                if empty:
                    self.fail(f"{name}: {word or 'not set'}")
                return value
        self.fail(f"substitution ${{{inner}}} is not supported by the replay")


def substitute_words(text, env, escape, where):
    return Lexer(text, env, escape, where).words(split=True)


def substitute_word(text, env, escape, where):
    words = Lexer(text, env, escape, where).words(split=False)
    return words[0] if words else ""


# --------------------------------------------------------------------------------------------
# The build context and .dockerignore


def compile_pattern(pattern):
    """A .dockerignore / COPY wildcard pattern as an anchored regular expression over
    slash-separated relative paths: `*` and `?` stay inside one path segment, `**` crosses
    segments (`**/` also matches no segment at all), `[...]` is a character class, `\\x` is x."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            if pattern.startswith("**", i):
                i += 2
                if pattern.startswith("/", i):
                    out.append("(?:.*/)?")
                    i += 1
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("!", "^") else i + 1)
            if end < 0:
                raise ReplayError(f"pattern {pattern!r}: unterminated [")
            body = pattern[i + 1 : end]
            if body[:1] in ("!", "^"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("^" + "".join(out) + "$")


def has_wildcard(text):
    return any(c in text for c in "*?[")


class DockerIgnore:
    def __init__(self, text):
        self.rules = []  # (exception, pattern text, regex)
        for number, line in enumerate(text.splitlines()):
            if number == 0:
                line = line.lstrip("\ufeff")
            if line.startswith("#"):
                continue
            line = line.strip()
            if not line:
                continue
            exception = line.startswith("!")
            if exception:
                line = line[1:].strip()
            if not line:
                continue
            line = posixpath.normpath(line)
            if len(line) > 1 and line.startswith("/"):
                line = line.lstrip("/")
            self.rules.append((exception, line, compile_pattern(line)))

    def excluded(self, relpath):
        """The path or one of its parent directories matches; the last matching rule decides."""
        prefixes = []
        parts = relpath.split("/")
        for i in range(1, len(parts) + 1):
            prefixes.append("/".join(parts[:i]))
        result = False
        for exception, _, regex in self.rules:
            if any(regex.match(prefix) for prefix in prefixes):
                result = not exception
        return result

    def may_include_below(self, reldir):
        """Whether an exception could re-include something under an excluded directory: only
        then is the directory walked (as Docker does; otherwise its contents are not sent)."""
        parts = reldir.split("/")
        for exception, pattern, _ in self.rules:
            if exception and self.reaches_below(pattern.split("/"), parts):
                return True
        return False

    @staticmethod
    def reaches_below(segments, parts):
        for i, part in enumerate(parts):
            if i >= len(segments):
                return False  # it names the directory or an ancestor: excluded() weighed it
            if "**" in segments[i]:
                return True
            if not compile_pattern(segments[i]).match(part):
                return False
        return len(segments) > len(parts)


class Context:
    """The files `docker build` would send: relative path -> 'file' | 'dir' | 'link'."""

    def __init__(self, directory):
        self.directory = os.path.abspath(directory)
        ignore_file = os.path.join(self.directory, ".dockerignore")
        text = open(ignore_file, encoding="utf-8").read() if os.path.exists(ignore_file) else ""
        self.ignore = DockerIgnore(text)
        self.entries = {".": "dir"}
        self.walk("")

    def walk(self, reldir):
        full = os.path.join(self.directory, reldir)
        with os.scandir(full) as listing:
            children = sorted(listing, key=lambda e: e.name)
        for child in children:
            rel = f"{reldir}/{child.name}" if reldir else child.name
            if child.is_symlink():
                if not self.ignore.excluded(rel):
                    self.add(rel, "link")
            elif child.is_dir():
                if not self.ignore.excluded(rel):
                    self.add(rel, "dir")
                    self.walk(rel)
                elif self.ignore.may_include_below(rel):
                    self.walk(rel)
            elif not self.ignore.excluded(rel):
                self.add(rel, "file")

    def add(self, rel, kind):
        self.entries[rel] = kind
        parent = posixpath.dirname(rel)
        while parent and parent not in self.entries:
            self.entries[parent] = "dir"  # a directory holding an included file is sent too
            parent = posixpath.dirname(parent)

    def below(self, rel):
        prefix = "" if rel == "." else rel + "/"
        return sorted(p for p in self.entries if p != "." and p.startswith(prefix) and p != rel)

    def resolve(self, source, where):
        """A COPY source: the context entries it names (a wildcard may name several)."""
        clean = posixpath.normpath(source.lstrip("/") or ".")
        if clean == ".." or clean.startswith("../"):
            raise ReplayError(f"COPY source {source!r} lies outside the build context", where)
        if has_wildcard(clean):
            regex = compile_pattern(clean)
            found = [p for p in sorted(self.entries) if p != "." and regex.match(p)]
        else:
            found = [clean] if clean in self.entries else []
        if not found:
            on_disk = os.path.lexists(os.path.join(self.directory, clean))
            why = (
                "it exists, but .dockerignore keeps it out of the build context"
                if on_disk
                else "no such file in the build context"
            )
            raise ReplayError(f"COPY {source}: not found: {why}", where, kind="copy")
        return found


# --------------------------------------------------------------------------------------------
# The stage root

HOST_ENV_ALLOWED = (
    "PATH HOME USER LOGNAME CARGO_HOME RUSTUP_HOME RUSTUP_TOOLCHAIN RUSTUP_AUTO_INSTALL "
    "CARGO_TERM_COLOR CARGO_NET_OFFLINE LANG LC_ALL TERM TMPDIR "
    "http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY SSL_CERT_FILE SSL_CERT_DIR"
).split()
ABSOLUTE_ALLOWED = {"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/stdin", "/dev/zero", "/dev/urandom"}
ABSOLUTE_IN_RUN = re.compile(r"(?:^|(?<=[\s=<>(|;&`]))[\"']?((?:/|~)[^\s;&|<>'\"()`]*)")


class StageRoot:
    def __init__(self, directory, cache_mounts):
        self.directory = os.path.realpath(directory)
        if self.directory == "/" or not os.path.isdir(self.directory):
            raise ReplayError(f"bad stage root {directory!r}")
        self.cache_mounts = {}  # image path -> real host directory
        for image_path, host_dir in cache_mounts:
            host_dir = os.path.realpath(host_dir)
            os.makedirs(host_dir, exist_ok=True)
            link = self.host(image_path)
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink(host_dir, link)
            self.cache_mounts[posixpath.normpath(image_path)] = host_dir

    def host(self, image_path, where=None):
        """An absolute path inside the image -> the path under the scratch root."""
        if not image_path.startswith("/"):
            raise ReplayError(f"internal: {image_path!r} is not absolute", where)
        clean = posixpath.normpath(image_path)
        mapped = os.path.normpath(os.path.join(self.directory, clean.lstrip("/")))
        if mapped != self.directory and not mapped.startswith(self.directory + os.sep):
            raise ReplayError(f"{image_path} maps outside the stage root", where)
        return mapped

    def check_inside(self, host_path, what, where):
        """Symlinks followed, a path must stay in the root or in a cache mount."""
        real = os.path.realpath(host_path)
        allowed = [self.directory] + list(self.cache_mounts.values())
        if not any(real == a or real.startswith(a + os.sep) for a in allowed):
            raise ReplayError(f"{what} resolves to {real}, outside the stage root", where)
        return real

    def in_cache(self, real):
        return any(real == c or real.startswith(c + os.sep) for c in self.cache_mounts.values())

    def remove(self):
        for image_path in self.cache_mounts:
            link = self.host(image_path)
            if os.path.islink(link):
                os.unlink(link)
        shutil.rmtree(self.directory, ignore_errors=True)


def copy_entry(context, rel, destination, root, where):
    """Copies one context entry (a file, a link, or a directory's sent contents) to a host path."""
    source = os.path.join(context.directory, rel)
    kind = context.entries[rel]
    if kind == "dir":
        os.makedirs(destination, exist_ok=True)
        root.check_inside(destination, "COPY destination", where)
        for child in context.below(rel):
            sub = child if rel == "." else child[len(rel) + 1 :]
            copy_one(context, child, os.path.join(destination, sub), root, where)
    else:
        copy_one(context, rel, destination, root, where)


def copy_one(context, rel, destination, root, where):
    source = os.path.join(context.directory, rel)
    kind = context.entries[rel]
    parent = os.path.dirname(destination)
    os.makedirs(parent, exist_ok=True)
    root.check_inside(parent, "COPY destination", where)
    if kind == "dir":
        os.makedirs(destination, exist_ok=True)
        shutil.copystat(source, destination)
        return
    if os.path.lexists(destination) and not os.path.isdir(destination):
        os.unlink(destination)
    if kind == "link":
        os.symlink(os.readlink(source), destination)
    else:
        shutil.copy2(source, destination)  # keeps the modification time, as COPY does


# --------------------------------------------------------------------------------------------
# Stages


class Stage:
    def __init__(self, index, base, name, line):
        self.index, self.base, self.name, self.line = index, base, name, line
        self.instructions = []

    def label(self):
        return f"stage {self.index}" + (f" ({self.name})" if self.name else "")


def split_stages(instructions, escape, build_args, consumed):
    """Global ARGs, then the stages with their FROM expanded."""
    global_args = predefined_args()
    stages = []
    for ins in instructions:
        if ins.keyword == "FROM":
            flags, rest = take_flags(ins.rest)
            words = substitute_words(rest, global_args, escape, ins.line)
            if len(words) == 3 and words[1].lower() == "as":
                base, name = words[0], words[2].lower()
            elif len(words) == 1:
                base, name = words[0], None
            else:
                raise ReplayError(f"cannot parse FROM {ins.rest!r}", ins.line)
            stages.append(Stage(len(stages), base, name, ins.line))
        elif not stages:
            if ins.keyword != "ARG":
                raise ReplayError(f"{ins.keyword} before the first FROM", ins.line)
            for name, default in arg_pairs(ins, global_args, escape):
                if name in build_args:
                    consumed.add(name)
                    global_args[name] = build_args[name]
                elif default is not None:
                    global_args[name] = default
                else:
                    global_args.setdefault(name, None)
        else:
            stages[-1].instructions.append(ins)
    if not stages:
        raise ReplayError("the Dockerfile has no FROM")
    return global_args, stages


def predefined_args():
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    plat = f"linux/{arch}"
    return {
        "BUILDPLATFORM": plat,
        "BUILDOS": "linux",
        "BUILDARCH": arch,
        "TARGETPLATFORM": plat,
        "TARGETOS": "linux",
        "TARGETARCH": arch,
        "TARGETVARIANT": "",
    }


def arg_pairs(ins, env, escape):
    """`ARG a=1 b` -> [("a", "1"), ("b", None)], defaults substituted."""
    pairs = []
    for word in split_keeping_quotes(ins.rest):
        name, eq, default = word.partition("=")
        if not NAME.fullmatch(name):
            raise ReplayError(f"bad ARG name {name!r}", ins.line)
        pairs.append((name, substitute_word(default, {k: v for k, v in env.items() if v is not None}, escape, ins.line) if eq else None))
    return pairs


def split_keeping_quotes(text):
    """Splits on blanks outside quotes, leaving quotes and escapes for the lexer."""
    words, word, quote, i = [], "", None, 0
    while i < len(text):
        char = text[i]
        if quote:
            word += char
            if char == quote:
                quote = None
            elif char == "\\" and i + 1 < len(text):
                word += text[i + 1]
                i += 1
        elif char in "'\"":
            quote = char
            word += char
        elif char == "\\" and i + 1 < len(text):
            word += char + text[i + 1]
            i += 1
        elif char.isspace():
            if word:
                words.append(word)
            word = ""
        else:
            word += char
        i += 1
    if word:
        words.append(word)
    return words


def env_pairs(ins, env, escape):
    """ENV k=v k2="v 2"  or the legacy  ENV k the rest of the line."""
    first = ins.rest.split(None, 1)
    if not first:
        raise ReplayError("ENV without a variable", ins.line)
    if "=" not in first[0]:
        name = first[0]
        value = substitute_word(first[1] if len(first) > 1 else "", env, escape, ins.line)
        return [(name, value)]
    pairs = []
    for word in split_keeping_quotes(ins.rest):
        name, eq, value = word.partition("=")
        if not eq or not NAME.fullmatch(name):
            raise ReplayError(f"cannot parse ENV {ins.rest!r}", ins.line)
        pairs.append((name, substitute_word(value, env, escape, ins.line)))
    return pairs


def check_run_paths(ins):
    """Refuses a RUN whose text names an absolute path (or ~) that is not /dev/null or its kin."""
    flags, rest = take_flags(ins.rest)
    argv = json_form(rest)
    # The exec form's program may be an absolute path: it is run, not written.
    text = " ".join(argv[1:]) if argv is not None else rest
    for match in ABSOLUTE_IN_RUN.finditer(text):
        path = match.group(1)
        if path not in ABSOLUTE_ALLOWED:
            raise ReplayError(
                f"RUN names {path!r}, which the replay cannot map into the stage root (it would "
                f"touch this machine's filesystem); make the build stage work relative to its WORKDIR",
                ins.line, repr(ins), kind="unmappable")


def absolute_components(value):
    return [part for part in value.split(":") if part.startswith("/") and not part.startswith("//")]


class StageReplay:
    def __init__(self, stage, escape, global_args, build_args, consumed, context, root, steps):
        self.stage, self.escape, self.context, self.root, self.steps = stage, escape, context, root, steps
        self.global_args, self.build_args, self.consumed = global_args, build_args, consumed
        self.args = {}  # declared in this stage: name -> value or None
        self.env = {}  # ENV of this stage
        self.workdir = "/"
        self.shell = ["/bin/sh", "-e", "-c"]
        self.host_env = {k: os.environ[k] for k in HOST_ENV_ALLOWED if k in os.environ}

    def scope(self):
        """What $VAR means in this stage: the host's stand-ins for the image, ARGs, ENV."""
        scope = dict(self.host_env)
        scope.update({k: v for k, v in self.args.items() if v is not None})
        scope.update(self.env)
        return scope

    def image_path(self, path):
        return posixpath.normpath(path if path.startswith("/") else posixpath.join(self.workdir, path))

    def run(self):
        say(f"{self.stage.label()}: FROM {self.stage.base} (not pulled: this machine's toolchain stands in)")
        for ins in self.stage.instructions:
            handler = getattr(self, "do_" + ins.keyword.lower(), None)
            if handler is None:
                if ins.keyword in ("LABEL", "EXPOSE", "USER", "HEALTHCHECK", "CMD", "ENTRYPOINT",
                                   "STOPSIGNAL", "MAINTAINER", "VOLUME", "ONBUILD"):
                    say(f"Dockerfile:{ins.line}: {ins.keyword}: image metadata, nothing to replay")
                    continue
                raise ReplayError(f"{ins.keyword} is not supported by the replay", ins.line, repr(ins))
            started = time.monotonic()
            try:
                handler(ins)
            except ReplayError as error:
                error.line = error.line or ins.line
                error.instruction = error.instruction or repr(ins)
                raise
            self.steps.append({"line": ins.line, "instruction": repr(ins), "seconds": round(time.monotonic() - started, 1)})

    def do_arg(self, ins):
        for name, default in arg_pairs(ins, self.scope(), self.escape):
            if name in self.build_args:
                self.consumed.add(name)
                self.args[name] = self.build_args[name]
            elif default is not None:
                self.args[name] = default
            else:
                self.args[name] = self.global_args.get(name)

    def do_env(self, ins):
        for name, value in env_pairs(ins, self.scope(), self.escape):
            self.env[name] = value

    def do_workdir(self, ins):
        path = substitute_word(ins.rest, self.scope(), self.escape, ins.line)
        self.workdir = self.image_path(path)
        host = self.root.host(self.workdir, ins.line)
        os.makedirs(host, exist_ok=True)
        self.root.check_inside(host, f"WORKDIR {self.workdir}", ins.line)
        say(f"Dockerfile:{ins.line}: WORKDIR {self.workdir}")

    def do_shell(self, ins):
        shell = json_form(ins.rest)
        if not shell:
            raise ReplayError("SHELL needs the JSON form", ins.line)
        self.shell = shell

    def do_add(self, ins):
        raise ReplayError("ADD is not supported by the replay (use COPY)", ins.line)

    def do_copy(self, ins):
        flags, rest = take_flags(ins.rest)
        for flag in flags:
            if flag == "from":
                raise ReplayError("COPY --from inside a replayed stage is not supported", ins.line)
            if flag not in ("chown", "chmod", "link"):
                raise ReplayError(f"COPY --{flag} is not supported by the replay", ins.line)
        if HEREDOC.search(rest):
            raise ReplayError("heredocs are not supported by the replay", ins.line)
        words = json_form(rest)
        scope = self.scope()
        if words is not None:
            words = [substitute_word(w, scope, self.escape, ins.line) for w in words]
        else:
            words = substitute_words(rest, scope, self.escape, ins.line)
        if len(words) < 2:
            raise ReplayError("COPY needs a source and a destination", ins.line)
        sources, dest = words[:-1], words[-1]
        resolved = [(source, rel) for source in sources for rel in self.context.resolve(source, ins.line)]
        dest_is_dir = dest.endswith("/") or dest in (".", "..") or dest.endswith("/.")
        if len(resolved) > 1 and not dest_is_dir:
            raise ReplayError(
                "with more than one source file, the COPY destination must be a directory and end with a /",
                ins.line, kind="copy")
        dest_image = self.image_path(dest)
        dest_host = self.root.host(dest_image, ins.line)
        count = 0
        for _, rel in resolved:
            if self.context.entries[rel] == "dir":
                copy_entry(self.context, rel, dest_host, self.root, ins.line)
                count += len(self.context.below(rel))
            else:
                into_dir = dest_is_dir or os.path.isdir(dest_host)
                target = os.path.join(dest_host, posixpath.basename(rel)) if into_dir else dest_host
                copy_entry(self.context, rel, target, self.root, ins.line)
                count += 1
        say(f"Dockerfile:{ins.line}: COPY {' '.join(sources)} -> {dest_image} ({count} entries)")

    def do_run(self, ins):
        flags, rest = take_flags(ins.rest)
        for flag, values in flags.items():
            if flag == "network":
                warn(f"Dockerfile:{ins.line}: RUN --network={values[-1]} is not enforced by the replay")
            else:
                raise ReplayError(f"RUN --{flag} is not supported by the replay", ins.line)
        if HEREDOC.search(rest):
            raise ReplayError("heredocs are not supported by the replay", ins.line)
        argv = json_form(rest)
        check_run_paths(ins)
        env = dict(self.host_env)
        for source, values in (("ARG", self.args), ("ENV", self.env)):
            for name, value in values.items():
                if value is None:
                    continue
                if name != "PATH" and absolute_components(value):
                    raise ReplayError(
                        f"{source} {name}={value!r} is an absolute path, which the replay cannot map "
                        f"into the stage root", ins.line, kind="unmappable")
                env[name] = value
        env["GIT_CEILING_DIRECTORIES"] = self.root.directory
        if argv is None:
            argv = self.shell + [rest]
        cwd = self.root.host(self.workdir, ins.line)
        os.makedirs(cwd, exist_ok=True)
        say(f"Dockerfile:{ins.line}: RUN {short(rest, 200)}")
        started = time.monotonic()
        done = subprocess.run(argv, cwd=cwd, env=env)
        seconds = time.monotonic() - started
        if done.returncode != 0:
            raise ReplayError(f"RUN exited with status {done.returncode} after {seconds:.1f}s", ins.line, kind="run")
        say(f"Dockerfile:{ins.line}: RUN done in {seconds:.1f}s")


# --------------------------------------------------------------------------------------------
# The final stage's COPY --from


def final_copies(final, stages, escape, global_args, build_args, consumed):
    """[(instruction, source stage, [sources], dest)] for the final stage's COPY --from."""
    args = {}
    copies = []
    for ins in final.instructions:
        if ins.keyword == "ARG":
            for name, default in arg_pairs(ins, args, escape):
                if name in build_args:
                    consumed.add(name)
                args[name] = build_args.get(name, default if default is not None else global_args.get(name))
            continue
        if ins.keyword != "COPY":
            continue
        flags, rest = take_flags(ins.rest)
        scope = {k: v for k, v in args.items() if v is not None}
        words = json_form(rest)
        words = [substitute_word(w, scope, escape, ins.line) for w in words] if words else substitute_words(rest, scope, escape, ins.line)
        if "from" not in flags:
            copies.append((ins, None, words[:-1], words[-1]))
            continue
        source = substitute_word(flags["from"][-1], scope, escape, ins.line).lower()
        stage = next((s for s in stages[:-1] if s.name == source or str(s.index) == source), None)
        copies.append((ins, stage if stage else source, words[:-1], words[-1]))
    return copies


def check_final(copies, replays, context, started_at, export_dir):
    checked = []
    for ins, stage, sources, dest in copies:
        if stage is None:
            for source in sources:
                context.resolve(source, ins.line)  # raises when the context lacks it
            say(f"Dockerfile:{ins.line}: final stage COPY {' '.join(sources)}: in the build context")
            continue
        if isinstance(stage, str):
            say(f"Dockerfile:{ins.line}: COPY --from={stage}: an image, not replayed")
            continue
        root = replays[stage.index].root
        found = []
        for source in sources:
            image_path = posixpath.normpath("/" + source.lstrip("/"))
            if has_wildcard(image_path):
                pattern = glob.escape(root.directory) + image_path
                matches = sorted(glob.glob(pattern))
            else:
                host = root.host(image_path, ins.line)
                matches = [host] if os.path.lexists(host) else []
            if not matches:
                raise ReplayError(
                    f"COPY --from={stage.name or stage.index} {source}: the replayed {stage.label()} has no {image_path}",
                    ins.line, repr(ins), kind="final")
            for host in matches:
                real = root.check_inside(host, f"COPY --from source {source}", ins.line)
                if root.in_cache(real) and os.path.isfile(real) and os.stat(real).st_mtime < started_at - 1:
                    raise ReplayError(
                        f"COPY --from={stage.name or stage.index} {source}: {real} lies in a cache mount "
                        f"and predates this replay: the replayed build did not produce it",
                        ins.line, repr(ins), kind="final")
                size = os.path.getsize(real) if os.path.isfile(real) else None
                found.append((host, real, size))
                say(f"Dockerfile:{ins.line}: COPY --from={stage.name or stage.index} {source}: present"
                    + (f" ({size} bytes)" if size is not None else " (a directory)"))
        checked.append({"line": ins.line, "from": stage.name or stage.index, "sources": sources, "dest": dest})
        if export_dir:
            dest_is_dir = dest.endswith("/") or len(found) > 1
            for host, real, _ in found:
                target_image = posixpath.join(dest, os.path.basename(host)) if dest_is_dir else dest
                target = os.path.join(export_dir, posixpath.normpath(target_image).lstrip("/"))
                os.makedirs(os.path.dirname(target), exist_ok=True)
                if os.path.lexists(target):
                    if os.path.isdir(target) and not os.path.islink(target):
                        shutil.rmtree(target)
                    else:
                        os.unlink(target)
                if os.path.isdir(real):
                    shutil.copytree(real, target, symlinks=True)
                else:
                    shutil.copy2(real, target)
                say(f"exported {target_image} -> {target}")
    return checked


# --------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--context", default=".", help="the build context (default .)")
    parser.add_argument("--file", "-f", help="the Dockerfile (default CONTEXT/Dockerfile)")
    parser.add_argument("--build-arg", action="append", default=[], metavar="K=V",
                        help="as docker build --build-arg; a bare K takes its value from the environment")
    parser.add_argument("--cache-mount", action="append", default=[], metavar="IMAGE_DIR=HOST_DIR",
                        help="link IMAGE_DIR of each replayed stage to HOST_DIR (a cache that outlives the replay)")
    parser.add_argument("--export-final", metavar="DIR",
                        help="copy what the final stage's COPY --from names to DIR, at its image paths")
    parser.add_argument("--root", help="the scratch folder for the stage roots (default: a new temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (default: kept only on failure)")
    parser.add_argument("--result-json", metavar="FILE", help="write the outcome as JSON to FILE")
    options = parser.parse_args()

    started_at = time.time()
    started = time.monotonic()
    result = {"ok": False, "steps": [], "final_copies": [], "error": None, "line": None,
              "instruction": None, "kind": None, "root": None}
    scratch = None
    replays = {}
    try:
        context_dir = os.path.abspath(options.context)
        dockerfile = options.file or os.path.join(context_dir, "Dockerfile")
        build_args = {}
        for item in options.build_arg:
            name, eq, value = item.partition("=")
            if eq:
                build_args[name] = value
            elif name in os.environ:
                build_args[name] = os.environ[name]
        cache_mounts = []
        for item in options.cache_mount:
            image_dir, eq, host_dir = item.partition("=")
            if not eq or not image_dir.startswith("/") or posixpath.normpath(image_dir) == "/" or not host_dir:
                raise ReplayError(f"--cache-mount {item!r}: want /IMAGE/DIR=HOST_DIR")
            cache_mounts.append((image_dir, os.path.abspath(host_dir)))

        escape, instructions = parse_dockerfile(open(dockerfile, encoding="utf-8").read())
        consumed = set()
        global_args, stages = split_stages(instructions, escape, build_args, consumed)
        context = Context(context_dir)
        say(f"build context {context_dir}: {sum(1 for k in context.entries.values() if k != 'dir')} files "
            f"(.dockerignore applied)")

        final = stages[-1]
        copies = final_copies(final, stages, escape, global_args, build_args, consumed)
        wanted = sorted({c[1].index for c in copies if isinstance(c[1], Stage)})
        if not wanted:
            raise ReplayError("the final stage copies from no stage of this Dockerfile: nothing to replay")
        if options.root:
            scratch = os.path.abspath(options.root)
            os.makedirs(scratch, exist_ok=True)
            if os.listdir(scratch):
                raise ReplayError(f"--root {scratch} is not empty")
        else:
            scratch = tempfile.mkdtemp(prefix="dockerfile-replay.")
        result["root"] = scratch
        for index in wanted:  # before anything runs: a RUN that would write outside the root
            for ins in stages[index].instructions:
                if ins.keyword == "RUN":
                    check_run_paths(ins)
        for index in wanted:
            stage = stages[index]
            if any(stage.base.lower() == s.name for s in stages if s.name):
                raise ReplayError(f"{stage.label()} is FROM another stage: not supported", stage.line)
            stage_dir = os.path.join(scratch, f"stage-{index}")
            os.makedirs(stage_dir)
            root = StageRoot(stage_dir, cache_mounts)
            replay = StageReplay(stage, escape, global_args, build_args, consumed, context, root, result["steps"])
            replays[index] = replay
            say(f"{stage.label()}: its / is {root.directory}")
            replay.run()
        unused = sorted(set(build_args) - consumed)
        if unused:
            warn(f"build args not consumed by the Dockerfile: {', '.join(unused)}")
        result["final_copies"] = check_final(copies, replays, context, started_at, options.export_final)
        result["ok"] = True
    except ReplayError as error:
        result.update(error=str(error), line=error.line, instruction=error.instruction, kind=error.kind)
    except (OSError, UnicodeDecodeError) as error:
        result.update(error=str(error), kind="error")
    result["seconds"] = round(time.monotonic() - started, 1)

    if result["ok"]:
        say(f"OK in {result['seconds']}s: the build stage replays and every COPY --from path exists")
        if scratch and not options.keep:
            for replay in replays.values():
                replay.root.remove()
            shutil.rmtree(scratch, ignore_errors=True)
        elif scratch:
            say(f"kept {scratch}")
    else:
        where = f"Dockerfile:{result['line']}: " if result["line"] else ""
        say(f"FAILED after {result['seconds']}s: {where}{result['error']}")
        if result["instruction"]:
            say(f"  at {result['instruction']}")
        if scratch:
            for replay in replays.values():
                for image_path in replay.root.cache_mounts:
                    link = replay.root.host(image_path)
                    if os.path.islink(link):
                        os.unlink(link)  # the scratch folder, kept, does not point into the cache
            say(f"the scratch folder is kept for a look: {scratch}")
    if options.result_json:
        with open(options.result_json, "w", encoding="utf-8") as out:
            json.dump(result, out, indent=2)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
