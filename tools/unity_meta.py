"""Write (or check) the Unity `.meta` files of the UPM package in bindings/unity.

Unity imports a package added from a git URL as read-only ("immutable") and ignores every file or
folder there that has no `.meta` file, so the package ships one per asset. Each GUID is derived from
the asset's path inside the package (MD5 of it), so re-running this is stable and reviewable.
Folders ending in `~` (Documentation~, Samples~, Tests/UnityStub~) are hidden from Unity and need none.

    python tools/unity_meta.py          # write missing .meta files, delete orphaned ones
    python tools/unity_meta.py --check  # exit 1 listing what is missing or orphaned
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "bindings" / "unity"

_TAIL = "  userData: \n  assetBundleName: \n  assetBundleVariant: \n"
_IMPORTERS = {
    ".cs": "MonoImporter:\n  externalObjects: {}\n  serializedVersion: 2\n  defaultReferences: []\n"
    "  executionOrder: 0\n  icon: {instanceID: 0}\n" + _TAIL,
    ".asmdef": "AssemblyDefinitionImporter:\n  externalObjects: {}\n" + _TAIL,
    ".md": "TextScriptImporter:\n  externalObjects: {}\n" + _TAIL,
    ".json": "TextScriptImporter:\n  externalObjects: {}\n" + _TAIL,
}


def guid_for(rel: str) -> str:
    return hashlib.md5(f"com.npcruntime.client/{rel}".encode()).hexdigest()


def meta_text(path: Path) -> str:
    rel = path.relative_to(PACKAGE).as_posix()
    head = f"fileFormatVersion: 2\nguid: {guid_for(rel)}\n"
    if path.is_dir():
        return head + "folderAsset: yes\nDefaultImporter:\n  externalObjects: {}\n" + _TAIL
    if rel == "package.json":
        return head + "PackageManifestImporter:\n  externalObjects: {}\n" + _TAIL
    return head + _IMPORTERS.get(path.suffix, "DefaultImporter:\n  externalObjects: {}\n" + _TAIL)


def assets(root: Path = PACKAGE) -> list[Path]:
    """Every file and folder Unity imports (nothing under a `~` folder, no dotfiles, no .meta)."""
    out = []
    for path in sorted(root.rglob("*")):
        parts = path.relative_to(root).parts
        if any(p.endswith("~") or p.startswith(".") for p in parts) or path.suffix == ".meta":
            continue
        out.append(path)
    return out


def problems(root: Path = PACKAGE) -> list[str]:
    found = []
    wanted = {Path(str(a) + ".meta") for a in assets(root)}
    for meta in sorted(wanted):
        if not meta.exists():
            found.append(f"missing {meta.relative_to(root)}")
        elif meta.read_text() != meta_text(Path(str(meta)[: -len(".meta")])):
            found.append(f"stale {meta.relative_to(root)}")
    for meta in sorted(root.rglob("*.meta")):
        if meta not in wanted:
            found.append(f"orphaned {meta.relative_to(root)}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="only report; exit 1 when anything is off")
    args = parser.parse_args(argv)
    found = problems()
    if args.check:
        for line in found:
            print(line)
        return 1 if found else 0
    for meta in sorted(PACKAGE.rglob("*.meta")):
        if not Path(str(meta)[: -len(".meta")]).exists():
            meta.unlink()
    for asset in assets():
        Path(str(asset) + ".meta").write_text(meta_text(asset))
    print(f"{len(assets())} .meta files in {PACKAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
