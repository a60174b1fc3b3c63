"""Build hook: ship ``schemas/`` and ``policies/`` inside the package.

They live at the project root (the contract's home, read there by a source checkout and an
editable install); a built wheel carries a copy under ``gatekeeper/_data/``, where
``gatekeeper/paths.py`` finds them. Everything else is in pyproject.toml.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
DATA = (("schemas", "*.schema.json"), ("policies", "*.yaml"), ("policies", "README.md"))


class BuildPyWithData(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the project root
        for folder, pattern in DATA:
            target = Path(self.build_lib, "gatekeeper", "_data", folder)
            self.mkpath(str(target))
            for source in sorted((HERE / folder).glob(pattern)):
                self.copy_file(str(source), str(target / source.name))


setup(cmdclass={"build_py": BuildPyWithData})
