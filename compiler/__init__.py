"""mvpn: a GitOps configuration compiler for a managed VPN service."""

__version__ = "0.1.0"
COMPILER_ID = f"mvpn {__version__}"
#: The config tree a command works on when none is given (every command: one name).
DEFAULT_ROOT = "sites"
