"""Build: render in memory, version, write the manifest, swap in atomically."""

from compiler.engine.assemble import Build, OutFile, assemble
from compiler.engine.write import WriteStats, write_build

__all__ = ["Build", "OutFile", "WriteStats", "assemble", "write_build"]
