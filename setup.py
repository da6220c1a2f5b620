"""Build hook: copy the repository-root files the toolkit reads into the wheel.

`label_config.xml`, `models/*.toml` and `docs/guidelines.md` stay at the top level (the
single source, CONTRACTS.md section 1); `build_py` copies them into `annotate/_data/` of
the build, so an installed wheel finds them through `annotate.resources`. An editable
install reads the repository's files directly and gets no copies. MANIFEST.in puts the
same files into the sdist, so a wheel built from the sdist has them too.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
PACKAGE_DATA = Path("annotate") / "_data"  # annotate.resources.PACKAGE_DATA


def shipped_files() -> list[Path]:
    """Repository-relative paths of the files every install needs."""
    files = [Path("label_config.xml"), Path("docs") / "guidelines.md"]
    files += sorted(p.relative_to(ROOT) for p in (ROOT / "models").glob("*.toml"))
    return files


class BuildPyWithResources(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # annotate.resources reads the checkout itself
        for rel in shipped_files():
            source = ROOT / rel
            if not source.is_file():
                raise SystemExit(f"setup.py: {rel} is missing; it must ship in the wheel")
            target = Path(self.build_lib) / PACKAGE_DATA / rel
            self.mkpath(str(target.parent))
            self.copy_file(str(source), str(target), preserve_mode=False)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        if getattr(self, "editable_mode", False):
            return outputs
        return outputs + [str(Path(self.build_lib) / PACKAGE_DATA / rel) for rel in shipped_files()]


setup(cmdclass={"build_py": BuildPyWithResources})
