"""Sphinx configuration: numpydoc API pages, a sphinx-gallery of examples/, and the
user guide in Markdown (MyST)."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))
import skdde  # noqa: E402

project = "skdde"
author = "The skdde developers"
copyright = "2026, The skdde developers"
release = version = skdde.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.md5", "auto_examples/*.json"]
templates_path = ["_templates"]
myst_heading_anchors = 3

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": True}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# The gallery's examples take minutes each: they run only when asked, all of
# them with ``-D plot_gallery=1``, or those whose path matches the regular
# expression in $SKDDE_DOCS_EXECUTE (CI runs the fast ones).
execute = os.environ.get("SKDDE_DOCS_EXECUTE")
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": execute or r"/(plot_|demo)",
    "ignore_pattern": r"__init__\.py|/output/",
    "plot_gallery": "True" if execute else "False",
    "download_all_examples": False,
    "remove_config_comments": True,
    "doc_module": ("skdde",),
    "reference_url": {"skdde": None},
}

html_theme = "pydata_sphinx_theme"
html_title = f"skdde {release}"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}
