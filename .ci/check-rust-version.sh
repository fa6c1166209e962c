#!/usr/bin/env bash
# Cargo.toml's rust-version must be true: equal to the highest `rust-version` of the packages the
# lock file resolves (from `cargo metadata`). No older toolchain can be installed here to try the
# claim, so the lock decides it: lower would promise builds that fail, higher would refuse
# toolchains that work. Runs before anything is built.
set -euo pipefail
cd "$(dirname "$0")/.."
metadata="$(mktemp)"
trap 'rm -f "$metadata"' EXIT
cargo metadata --locked --format-version 1 >"$metadata"
python3 - "$metadata" <<'PY'
import json
import sys


def parse(text):
    parts = tuple(int(part) for part in text.split("."))
    return parts + (0,) * (3 - len(parts))  # 1.88 and 1.88.0 are the same requirement


def show(version):
    return ".".join(str(part) for part in (version[:2] if version[2] == 0 else version))


with open(sys.argv[1]) as file:
    meta = json.load(file)
resolved = {node["id"] for node in meta["resolve"]["nodes"]}
root = meta["resolve"]["root"]
declared = None
highest, needers = (0, 0, 0), []
for package in meta["packages"]:
    if package["id"] == root:
        declared = package.get("rust_version")
    elif package["id"] in resolved and package.get("rust_version"):
        version = parse(package["rust_version"])
        name = "{} {}".format(package["name"], package["version"])
        if version > highest:
            highest, needers = version, [name]
        elif version == highest:
            needers.append(name)

if declared is None:
    sys.exit("Cargo.toml has no rust-version")
needers = sorted(needers)
listed = ", ".join(needers[:6]) + (", ..." if len(needers) > 6 else "")
if parse(declared) != highest:
    sys.exit(
        f'Cargo.toml says rust-version = "{declared}", but the highest rust-version among the '
        f'locked packages is {show(highest)} ({listed}): set rust-version = "{show(highest)}"'
    )
print(f"rust-version {declared} = the highest among the locked packages ({listed})")
PY
