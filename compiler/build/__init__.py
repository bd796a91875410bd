"""Build: render in memory, version, write the manifest, swap in atomically."""

from compiler.build.assemble import Build, OutFile, assemble
from compiler.build.write import WriteStats, write_build

__all__ = ["Build", "OutFile", "WriteStats", "assemble", "write_build"]
