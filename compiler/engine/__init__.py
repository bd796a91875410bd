"""The build engine: render in memory or stream to disk, version, write the manifest, swap in."""

from compiler.engine.assemble import Build, OutFile, assemble
from compiler.engine.write import WriteStats

__all__ = ["Build", "OutFile", "WriteStats", "assemble"]
