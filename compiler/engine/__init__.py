"""The build engine: plan, render in memory or stream to disk, version, write the manifest, swap in.

Its modules are imported by name (``compiler.engine.assemble``...): this package imports
nothing itself, so the process entry can start the build scan (:mod:`compiler.engine.scan`)
before the renderer and its libraries are loaded.
"""
