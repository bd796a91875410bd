"""mvpn: a GitOps configuration compiler for a managed VPN service."""

__version__ = "0.1.0"
COMPILER_ID = f"mvpn {__version__}"
