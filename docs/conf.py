"""Sphinx configuration: the API reference, built from the numpydoc docstrings (``make docs``)."""

project = "asem-bayes"
author = "asem-bayes developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon"]
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_ivar = True  # dataclass fields are documented once, by autodoc
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "undoc-members": False}
# Markdown pages (model.md, validation.md, ...) are read on GitHub; Sphinx builds the API only.
exclude_patterns = ["_build", "*.md"]
html_theme = "alabaster"
nitpicky = False
