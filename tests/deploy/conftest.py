"""Fixtures of the deploy tests: the overlays rendered once per session, in a scratch copy of
deploy/k8s whose dev secrets are made by the overlay's own make-secrets.sh."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# deploykit.py sits beside the tests (importlib import mode does not add test folders to sys.path).
sys.path.insert(0, str(Path(__file__).parent))

from deploykit import OVERLAYS, Rendered, kustomize_command, prepare_tree, render


@pytest.fixture(scope="session")
def rendered_all(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Rendered]:
    if kustomize_command() is None:
        pytest.skip("neither kubectl nor kustomize is installed: the overlays cannot be rendered here")
    work = tmp_path_factory.mktemp("deploy")
    tree = prepare_tree(work)
    out = work / "rendered"
    out.mkdir()
    return {overlay: render(overlay, tree, out) for overlay in OVERLAYS}


@pytest.fixture(params=OVERLAYS)
def rendered(request: pytest.FixtureRequest, rendered_all: dict[str, Rendered]) -> Rendered:
    return rendered_all[request.param]
