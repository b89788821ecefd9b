"""Model code stays backend-agnostic: no zoo/ module imports a backend directly."""

import ast

import pytest

from helpers import REPO

BACKENDS = {"tensorflow", "jax", "jaxlib", "torch", "tf_keras"}
ZOO_FILES = sorted((REPO / "zoo").glob("*.py"))


@pytest.mark.parametrize("path", ZOO_FILES, ids=lambda p: p.name)
def test_no_backend_import(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & BACKENDS, f"{path.name} imports {sorted(imported & BACKENDS)}"


def test_every_family_file_is_checked():
    names = {p.name for p in ZOO_FILES}
    assert {"samplecnn.py", "artist.py", "inception.py", "frontends.py"} <= names
