"""The Unity package in bindings/unity installs the way Unity expects (UPM layout, checked statically).

Unity itself cannot be installed here; these checks hold the package to what the Package Manager
reads: package.json fields, the assembly definitions, a .meta file (stable GUID) for every asset
(a package added from a git URL is read-only and Unity ignores files without one), the sample.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "bindings" / "unity"


def _json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_package_manifest_has_what_the_package_manager_reads() -> None:
    pkg = _json(PACKAGE / "package.json")
    assert re.fullmatch(r"com\.[a-z0-9-]+\.[a-z0-9.-]+", pkg["name"])
    assert re.fullmatch(r"\d+\.\d+\.\d+", pkg["version"])
    assert re.fullmatch(r"20\d\d\.\d", pkg["unity"])
    assert pkg["displayName"] and len(pkg["description"]) > 40
    changelog = (PACKAGE / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## [{pkg['version']}]" in changelog, "CHANGELOG.md has no entry for the package version"
    assert pkg["samples"], "a sample is listed"
    for sample in pkg["samples"]:
        folder = PACKAGE / sample["path"]
        assert sample["path"].startswith("Samples~/") and folder.is_dir(), sample
        assert list(folder.glob("*.cs")), f"{folder} holds a script"
    assert (PACKAGE / "Documentation~" / "index.md").is_file()


def test_assembly_definitions_split_runtime_and_editor_tests() -> None:
    runtime = _json(PACKAGE / "Runtime" / "NpcRuntime.asmdef")
    tests = _json(PACKAGE / "Tests" / "NpcRuntime.Tests.asmdef")
    assert runtime["name"] == "NpcRuntime" and runtime["references"] == []
    assert "NpcRuntime" in tests["references"]
    assert tests["includePlatforms"] == ["Editor"]
    assert "UNITY_INCLUDE_TESTS" in tests["defineConstraints"]
    assert "nunit.framework.dll" in tests["precompiledReferences"]


def test_every_asset_has_a_stable_meta_file() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "tools" / "unity_meta.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, f"run tools/unity_meta.py:\n{proc.stdout}{proc.stderr}"
    guids = [
        line.split()[1]
        for meta in PACKAGE.rglob("*.meta")
        for line in meta.read_text().splitlines()
        if line.startswith("guid:")
    ]
    assert len(guids) > 20 and len(guids) == len(set(guids))


def test_unity_only_code_is_guarded_and_the_core_has_no_unityengine() -> None:
    for cs in (PACKAGE / "Runtime").rglob("*.cs"):
        text = cs.read_text(encoding="utf-8")
        uses_unity = "using UnityEngine" in text
        if cs.parent.name == "Unity":
            assert uses_unity and "#if UNITY_5_3_OR_NEWER" in text, cs
        else:
            assert not uses_unity, f"{cs} is plain C# (tested with mono) and must not use UnityEngine"
