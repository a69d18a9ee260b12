"""A Great Expectations 1.x file data context that never talks to the network.

Great Expectations sends usage statistics unless told not to, and shows progress bars
on every metric computation. Both are switched off here: the environment variable is
set before ``great_expectations`` is first imported (every module of ours imports GX
through this one), and the project file written below repeats the setting, so a
context opened later by hand stays quiet too.
"""

from __future__ import annotations

import os
from pathlib import Path

# Must happen before the first import of great_expectations anywhere in the process.
os.environ["GX_ANALYTICS_ENABLED"] = "False"

import great_expectations as gx  # noqa: E402
from great_expectations.data_context import FileDataContext  # noqa: E402

__all__ = ["DATA_DOCS_SITE", "GX_DIR", "gx", "open_context"]

GX_DIR = "gx"
DATA_DOCS_SITE = "local_site"

# The project file of every context we create. The how-to buttons are off: they only
# link to the GX website. Analytics off, progress bars off (we show our own).
_PROJECT_YML = f"""\
config_version: 4.0
analytics_enabled: false
progress_bars:
  globally: false
  metric_calculations: false
config_variables_file_path: uncommitted/config_variables.yml
plugins_directory: plugins/
stores:
  expectations_store:
    class_name: ExpectationsStore
    store_backend:
      class_name: TupleFilesystemStoreBackend
      base_directory: expectations/
  validation_results_store:
    class_name: ValidationResultsStore
    store_backend:
      class_name: TupleFilesystemStoreBackend
      base_directory: uncommitted/validations/
  checkpoint_store:
    class_name: CheckpointStore
    store_backend:
      class_name: TupleFilesystemStoreBackend
      suppress_store_backend_id: true
      base_directory: checkpoints/
  validation_definition_store:
    class_name: ValidationDefinitionStore
    store_backend:
      class_name: TupleFilesystemStoreBackend
      base_directory: validation_definitions/
expectations_store_name: expectations_store
validation_results_store_name: validation_results_store
checkpoint_store_name: checkpoint_store
data_docs_sites:
  {DATA_DOCS_SITE}:
    class_name: SiteBuilder
    show_how_to_buttons: false
    store_backend:
      class_name: TupleFilesystemStoreBackend
      base_directory: uncommitted/data_docs/{DATA_DOCS_SITE}/
    site_index_builder:
      class_name: DefaultSiteIndexBuilder
"""


def open_context(project_root: str | os.PathLike[str]) -> FileDataContext:
    """Open (creating if needed) a file data context under ``project_root/gx``.

    The context keeps its suites, validation results and Data Docs on disk so the
    reviewer can reopen them; analytics and progress bars are off.
    """
    root = Path(project_root)
    yml = root / GX_DIR / "great_expectations.yml"
    if not yml.exists():
        yml.parent.mkdir(parents=True, exist_ok=True)
        yml.write_text(_PROJECT_YML, encoding="utf-8")
    context = gx.get_context(mode="file", project_root_dir=str(root))
    assert isinstance(context, FileDataContext)
    return context
