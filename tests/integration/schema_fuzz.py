"""Schemathesis cases from the ingress's own /openapi.json, run against a running ingress: a plain
function, so that several processes can share a run (case generation costs more CPU than the calls)."""

from __future__ import annotations

from collections import Counter

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

# (operation label, "positive" | "negative", cases)
Plan = list[tuple[str, str, int]]


def run_cases(base_url: str, plan: Plan, sources: list[str]) -> tuple[dict[int, int], list[str]]:
    """Statuses of the answers (status -> count) and a line for each answer ≥ 500."""
    statuses: Counter[int] = Counter()
    errors: list[str] = []
    with requests.Session() as session:
        schema = schemathesis.openapi.from_dict(session.get(f"{base_url}/openapi.json", timeout=10).json())
        operations = {r.ok().label: r.ok() for r in schema.get_all_operations()}
        for label, mode_name, examples in plan:
            operation = operations[label]
            mode = GenerationMode(mode_name)
            strategy = operation.as_strategy(generation_mode=mode)
            if "{source}" in operation.path:  # mostly at configured sources, not only 404s
                strategy = st.one_of(
                    strategy,
                    *(operation.as_strategy(generation_mode=mode, path_parameters={"source": n}) for n in sources),
                )

            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def run(case: schemathesis.Case) -> None:
                response = case.call(base_url=base_url, session=session, timeout=30)
                statuses[response.status_code] += 1
                if response.status_code >= 500:
                    errors.append(f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:200]}")

            run()
    return dict(statuses), errors
