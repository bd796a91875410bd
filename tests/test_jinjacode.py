"""The templates' Jinja code compiled ahead (compiler/render/jinjacode.py) is current and safe.

The kept code must be what Jinja makes of each template now (else a template edit would not
show until someone regenerates it), it must be used (else it saves nothing), and code that
is not current must never be used: the output bytes are always the template's own.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from compiler.render import jinjacode
from compiler.render.env import TEMPLATES, environment
from compiler.render.jinjacode_data import CODE

NAMES = sorted(path.relative_to(TEMPLATES).as_posix() for path in TEMPLATES.rglob("*.j2"))
#: The Jinja the kept code was made with (the data module says so on its "Made with" line).
MADE_WITH = next(line.split()[-1].rstrip(".") for line in
                 Path(jinjacode.__file__).with_name("jinjacode_data.py")
                 .read_text(encoding="utf-8").splitlines() if line.startswith("#: Made with"))
REGENERATE = "run: .venv/bin/python scripts/precompile-templates.py"


def test_every_template_has_its_current_code_kept() -> None:
    env = environment()
    assert sorted(CODE) == NAMES, REGENERATE
    assert env.loader is not None
    stale = []
    for name in NAMES:
        source, filename, _ = env.loader.get_source(env, name)
        key, code = CODE[name]
        if jinja2.__version__ != MADE_WITH:  # another Jinja (the floors' venv): never used
            assert key != jinjacode.code_key(env, name, source)
            continue
        if key != jinjacode.code_key(env, name, source) or code != env.compile(
                source, name, filename, raw=True):
            stale.append(name)
    assert stale == [], REGENERATE


def _fresh(loader: jinja2.BaseLoader) -> jinja2.Environment:
    """An environment with the options and filters of the real one, and ``loader``."""
    env = environment().overlay(loader=loader, cache_size=0)
    env.filters = environment().filters
    return env


class CompiledError(Exception):
    """Raised instead of compiling a template from its source."""


def test_the_kept_code_is_used_and_nothing_is_compiled(monkeypatch: pytest.MonkeyPatch) -> None:
    env = _fresh(jinjacode.PrecompiledLoader(TEMPLATES))

    def no_compile(*args: object, **kwargs: object) -> None:
        raise CompiledError

    monkeypatch.setattr(jinja2.Environment, "compile", no_compile)
    for name in NAMES:
        if jinja2.__version__ == MADE_WITH:
            assert env.get_template(name).name == name
        else:  # another Jinja (the floors' venv): its own compile, never code made for another
            with pytest.raises(CompiledError):
                env.get_template(name)


def test_an_edited_template_is_compiled_from_its_source(tmp_path: Path) -> None:
    # The kept code of hub/sysctl.conf.j2 no longer matches this text: it must not be used.
    (tmp_path / "hub").mkdir()
    (tmp_path / "hub" / "sysctl.conf.j2").write_text(
        "edited {{ inst | name }}\n", encoding="utf-8")
    env = _fresh(jinjacode.PrecompiledLoader(tmp_path))
    assert env.get_template("hub/sysctl.conf.j2").render(inst="acme-eu") == "edited acme-eu\n"


def test_another_option_or_jinja_changes_the_key() -> None:
    env = environment()
    key = jinjacode.code_key(env, "hub/sysctl.conf.j2", "text")
    assert jinjacode.code_key(env.overlay(trim_blocks=False), "hub/sysctl.conf.j2", "text") != key
    assert jinjacode.code_key(env, "hub/other.j2", "text") != key
    assert jinjacode.code_key(env, "hub/sysctl.conf.j2", "text ") != key


@pytest.mark.parametrize("name", NAMES)
def test_the_kept_code_renders_what_the_template_does(name: str) -> None:
    # The same template object twice, from the kept code and from the source: same code.
    kept = _fresh(jinjacode.PrecompiledLoader(TEMPLATES)).get_template(name)
    own = _fresh(jinja2.FileSystemLoader(TEMPLATES)).get_template(name)
    assert kept.debug_info == own.debug_info
    assert sorted(kept.blocks) == sorted(own.blocks)
    assert kept.root_render_func.__code__.co_code == own.root_render_func.__code__.co_code
