"""The researcher's JupyterLab, hardened: configuration, kernels without a network, the
self-check, and the JupyterHub setup for many researchers on one host.

See ``docs/lab.md`` for what each setting does and, as important, what it does not stop.
"""

from .config import DISABLED_PLUGINS, page_config, server_config, write_config_dir
from .kernels import Isolation, detect_isolation

__all__ = [
    "DISABLED_PLUGINS",
    "Isolation",
    "detect_isolation",
    "page_config",
    "server_config",
    "write_config_dir",
]
